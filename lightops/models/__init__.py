"""Models; importing this package registers them in timm's registry."""
from .baselines import DCASEBaselineCNN, dcase2020_baseline
from .cp_mobile import CPMobile, dcase2025_baseline
from .dssdn import AUDIO_CFG, DSSDN, BlockCfg, DSSDNCfg, StemCfg, model_cfgs

__all__ = ["DSSDN", "DSSDNCfg", "BlockCfg", "StemCfg", "AUDIO_CFG", "model_cfgs", "DCASEBaselineCNN",
           "dcase2020_baseline", "CPMobile", "dcase2025_baseline", "BASELINE_MODELS"]

BASELINE_MODELS = ("dcase2020_baseline", "dcase2025_baseline")
"""Reference models registered for comparisons; ``lightops.list_models()`` leaves them out unless asked."""
