"""Models; importing this package registers them in timm's registry."""
from .dssdn import AUDIO_CFG, DSSDN, BlockCfg, DSSDNCfg, StemCfg, model_cfgs

__all__ = ["DSSDN", "DSSDNCfg", "BlockCfg", "StemCfg", "AUDIO_CFG", "model_cfgs"]
