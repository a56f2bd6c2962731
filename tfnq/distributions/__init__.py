"""tfp distribution wrappers."""

from tfnq.distributions.soft_round_adapted import SoftRoundAdaptedDensity, noisy_density

__all__ = [
    "SoftRoundAdaptedDensity",
    "noisy_density",
]
