"""Native cpt-text and cpt-code models (Neelakantan et al. 2022): where each part lives.

* :mod:`.presets`: the paper's sizes (Table 1) and the offline presets, with their backbones.
* :mod:`.backbones`: loading a decoder LM (hub id, local folder, packaged GGUF, random micro).
* :mod:`.model`: the read-out: ``[x]`` / ``{y}`` delimiters, last hidden state at the closing one.
* :mod:`.checkpoint`: trained models and training state on disk (safetensors + JSON).
* :mod:`.cpt_encoder`: a cpt model as a harness encoder (registered by ``harness.plugins.cpt``).
* :mod:`.training`: pairs, mining, the contrastive loss, gradient caching, multi-process training.
"""
