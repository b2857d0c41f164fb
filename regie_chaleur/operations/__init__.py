"""Operations: rollups, KPIs, network balance, alarms and fault detection, signatures, audit."""
