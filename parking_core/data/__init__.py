"""Data files bundled with the core: the gazetteer of Suzhou and Nantong."""
