from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import User


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("職員", {"fields": ("staff_no", "display_name", "department")}),
    )
    list_display = ("username", "display_name", "staff_no", "department", "is_active")
