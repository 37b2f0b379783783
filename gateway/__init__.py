"""Appeals Gateway: the regional hub for citizens' electronic appeals."""
