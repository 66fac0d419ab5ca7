"""Retrieval baseline: chunk a long context, embed it, search it, and measure retrieval recall."""
