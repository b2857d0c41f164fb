"""A substation simulator: building physics, Modbus TCP servers with the shipped profiles, faults."""
