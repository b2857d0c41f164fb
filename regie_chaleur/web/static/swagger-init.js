/* The API documentation page (Swagger UI, vendored): no inline script, so the page keeps the site's CSP. */
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
