"""Describers: what one would *see* when a catalog sound plays, written from its metadata by a
template or a language model, with a persistent response cache."""
