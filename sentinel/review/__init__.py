"""The review queue: amber results wait for a person, whose decision becomes the final verdict."""
