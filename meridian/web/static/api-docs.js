/* Starts Swagger UI on /api/docs; a file of its own because pages run no inline script (CSP). */
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("swagger-ui");
  SwaggerUIBundle({
    url: box.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
