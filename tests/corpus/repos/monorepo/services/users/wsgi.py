from users import create_app

app = create_app()
