"""Hardware and software inventory in GLPI's native format (itemtype Computer)."""
