"""What goes into Poetry's venv and how: the plan (key, plugins, Poetry release and Python), the
locked tables, our Poetry plugin's wheel, and running uv or pip with their errors explained."""
