"""A person in the loop: approvals and rejections, earned trust, the Autonomy Index."""
