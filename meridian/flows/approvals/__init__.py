"""The approval engine: flows as versioned node trees, instances, one task row per approver."""
