"""State features phi and the discounted feature count mu (Sec. 3.2)."""

from irlas_jax.features.state import DEFAULT_ENCODING
from irlas_jax.features.state import DEFAULT_GAMMA
from irlas_jax.features.state import Encoding
from irlas_jax.features.state import encodings
from irlas_jax.features.state import feature_count
from irlas_jax.features.state import feature_dim
from irlas_jax.features.state import feature_names
from irlas_jax.features.state import get_encoding
from irlas_jax.features.state import phi
from irlas_jax.features.state import register_encoding
