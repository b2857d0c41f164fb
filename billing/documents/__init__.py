"""Invoice documents: the French PDF/A-3 a subscriber reads, its Factur-X (EN 16931) XML, their storage."""
