"""Alert rules: their model, the shipped defaults, the pure evaluators and the engine."""
