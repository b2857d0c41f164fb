"""Telemetry: Modbus device profiles, collectors, store-and-forward buffer, writer and simulator."""
