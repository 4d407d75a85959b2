"""`run.py seed`: the demo catalog (filled in next)."""


async def seed(seeder) -> None:
    return None
