from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import MeSerializer, TokenRequestSerializer, TokenResponseSerializer


class ObtainTokenView(APIView):
    """Exchange a username and password for a new API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            key = services.obtain_api_token(**serializer.validated_data)
        except services.InvalidCredentials as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"token": key})


class MeView(APIView):
    """Who the credentials belong to: a quick way for a script to check its token."""

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response({"id": request.user.pk, "username": request.user.get_username()})
