"""What tests and benchmarks drive targen with: the fake server as its own process, memory sampling of a
process tree, and load from Ray actors through the real pool. Not part of the product."""
