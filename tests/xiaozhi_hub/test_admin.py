import pytest

pytestmark = pytest.mark.django_db


def test_admin_login_page_carries_the_hub_name(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
    assert "xiaozhi-hub administration" in response.content.decode()


def test_staff_see_the_admin_index_with_the_hub_sections(client, django_user_model):
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.is_superuser = True
    user.save()
    client.force_login(user)
    page = client.get("/admin/").content.decode()
    assert "xiaozhi-hub administration" in page
    assert "Periodic tasks" in page  # django-celery-beat: the schedule is editable here
    assert 'href="/api/health"' in page


def test_root_redirects_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_admin_static_files_are_served_without_collectstatic(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
