from ecom.plugin import Plugin
from tests.loaderplugins.alpha import STARTED


async def lifespan(ctx):
    STARTED.append("beta")  # must come after alpha: beta requires alpha
    yield
    STARTED.append("beta-stopped")

PLUGIN = Plugin(name="beta", requires=("alpha",), lifespan=lifespan)
