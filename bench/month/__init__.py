"""A simulated month of the platform (issue 11's "Done when"), run by `python -m bench.bench_month`.

world.py builds the platform, the local Alipay and the keys; city.py joins the car parks; traffic.py
plans and drives each day (drivers, payments, injected faults); books.py reconciles and resolves each
day; checks.py ends the month (scope, statements); report.py prints it."""
