"""Networks: generator (mapping, structure and texture synthesizers) and discriminator."""

from infinitygan.models.discriminator import Discriminator
from infinitygan.models.generator import Generator

__all__ = ["Discriminator", "Generator"]
