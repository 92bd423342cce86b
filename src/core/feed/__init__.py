"""Feed: the fused home feed's items, mixing rules and cursors."""
