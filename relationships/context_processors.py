from django.conf import settings


def rapport(request):
    return {"open_signup": settings.RAPPORT_OPEN_SIGNUP}
