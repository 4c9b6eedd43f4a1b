"""api_location: which API the services use, for their logs, without credentials."""

from amber.secret import api_location


def test_api_location_names_the_host_and_never_credentials():
    assert api_location("https://api.amber.com.au/v1") == "https://api.amber.com.au/v1"
    assert api_location("http://simulator:8765/v1") == "http://simulator:8765/v1"
    shown = api_location("https://user:s3cret@api.example.com:8443/v1?token=abc#x")
    assert shown == "https://api.example.com:8443/v1"
    assert "s3cret" not in api_location("s3cret")
