"""Tariffs: rule sets as data (schema, loader) and the fee engine that prices a stay under one of them."""
from billing.tariffs.engine import BreakdownLine, CompiledTariff, Fee, compile_tariff, compute_fee
from billing.tariffs.loader import load_tariff, load_tariffs
from billing.tariffs.schema import TariffRuleSet

__all__ = [
    "BreakdownLine", "CompiledTariff", "Fee", "TariffRuleSet",
    "compile_tariff", "compute_fee", "load_tariff", "load_tariffs",
]
