"""A JSON session serializer that counts its calls, to show which values a save touches."""

from django.core.signing import JSONSerializer


class CountingJSONSerializer(JSONSerializer):
    dumps_calls = 0
    loads_calls = 0

    @classmethod
    def reset(cls) -> None:
        cls.dumps_calls = cls.loads_calls = 0

    def dumps(self, obj):
        type(self).dumps_calls += 1
        return super().dumps(obj)

    def loads(self, data):
        type(self).loads_calls += 1
        return super().loads(data)
