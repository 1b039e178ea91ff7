"""After-action figures for every incident, drill or real: figures.py and chart.py (pure), service.py."""
