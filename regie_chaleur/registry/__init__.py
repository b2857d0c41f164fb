"""Network registry: networks, plants, substations, devices, meters and delivery points."""
