# rooms/views.py
import courant
from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.views.decorators.http import require_POST


@staff_member_required
@require_POST
def announce(request, name):
    message = courant.publish(f"room:{name}", {"from": "staff", "text": request.POST["text"]})
    return JsonResponse({"offset": message.offset})
