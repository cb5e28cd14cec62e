import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.requires_services("mysql")
def test_mysql_sessions_are_utf8mb4_and_strict():
    assert connection.vendor == "mysql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.sql_mode, @@SESSION.character_set_connection")
        sql_mode, charset = cursor.fetchone()
    assert "STRICT_TRANS_TABLES" in sql_mode
    assert charset == "utf8mb4"


def test_chinese_text_and_emoji_round_trip(django_user_model):
    django_user_model.objects.create_user("小智", first_name="你好 👋🤖")
    assert django_user_model.objects.get(username="小智").first_name == "你好 👋🤖"
