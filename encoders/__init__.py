"""Native cpt-text and cpt-code models (decoder LM backbone, delimiter pooling, contrastive training).

Filled by a later milestone; the package exists so the import name is reserved.
"""
