"""Chapter 1 exercises: cleaning and mixing pretraining data."""
