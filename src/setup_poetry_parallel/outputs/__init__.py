"""What a setup leaves for later steps: the runner's files (outputs, env, PATH, summary) and the
plain-CLI formats."""
