"""Speed and memory figures, written as JSON under benchmarks/results/."""
