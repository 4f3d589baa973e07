"""The OpenAPI document follows the service's settings."""

from housing.deployment.openapi import openapi_document
from housing.deployment.settings import Settings


def test_the_document_names_the_served_model_and_alias_and_limits():
    info = openapi_document(Settings(model_name="coastal-housing", model_alias="staging",
                                     max_batch=7))["info"]["description"]
    assert "'coastal-housing' registered model's 'staging' version" in info
    assert "At most 7 records" in info
