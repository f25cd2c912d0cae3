from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from relationships import views
from relationships.forms import accounts as forms

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/signup/", views.signup, name="signup"),
    # Django's own views, with forms that show a weak password's errors beside the new password.
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(form_class=forms.ChangePasswordForm),
         name="password_change"),
    path("accounts/reset/<uidb64>/<token>/",
         auth_views.PasswordResetConfirmView.as_view(form_class=forms.NewPasswordForm), name="password_reset_confirm"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("relationships.urls")),
]
