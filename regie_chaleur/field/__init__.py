"""Field operations: work orders, preventive maintenance, subscriber requests, the on-call rota and its
escalation, planned and unplanned outages with their notices, and the proof of repair."""
