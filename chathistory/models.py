# Models arrive with their feature issues; the app is registered now so that
# its migrations, admin and tests have a home from the first day.
