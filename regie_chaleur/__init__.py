"""regie-chaleur: the application that runs a district heating network.

It wires the packages `telemetry`, `models` and `billing` together: settings, database and
migrations, network registry, operations, API, web pages, CLI and the demo.
"""

__version__ = "0.1.0"
