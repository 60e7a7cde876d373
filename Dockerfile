FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY parking_core parking_core
COPY sensors sensors
COPY billing billing
COPY gateways gateways
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["sh", "-c", "parking db upgrade && parking serve --host 0.0.0.0 --port 8000"]
