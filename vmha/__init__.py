"""vmha: keep Nova instances alive when their compute host dies."""
