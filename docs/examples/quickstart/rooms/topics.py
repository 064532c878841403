# rooms/topics.py
import courant


class Room(courant.Topic):
    """room:<name>, for the topics endpoint: anyone listens, members of the site talk."""

    pattern = "room:{name}"
    history = courant.History(size=50, ttl=600)

    def can_subscribe(self, user, name):
        return True

    def can_publish(self, user, name):
        return user.is_authenticated

    def clean(self, user, data, name):
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise courant.Reject("say something")
        return {"from": user.get_username(), "text": text[:500]}


@courant.method("rooms.count")
async def count_rooms(user, params):
    return {"rooms": 3}
