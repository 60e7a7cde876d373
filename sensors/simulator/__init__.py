"""A simulated city for demos, tests and benchmarks: its registry, its device traffic, a runner."""
from sensors.simulator.city import city_summary, generate_city
from sensors.simulator.run import run_simulation
from sensors.simulator.traffic import Simulator, target_occupancy

__all__ = ["Simulator", "city_summary", "generate_city", "run_simulation", "target_occupancy"]
