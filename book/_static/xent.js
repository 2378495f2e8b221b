// Opened from a folder (file://), the browser refuses the page fetches with which Sphinx's search
// shows a snippet of each hit ("blocked by CORS policy"): there, list the hits without snippets.
if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
  DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
}

// Adds "all notebooks (.zip)" to the download menu of each page, next to the page's own .ipynb.
document.addEventListener("DOMContentLoaded", () => {
  const menu = document.querySelector(".dropdown-download-buttons ul");
  if (!menu) return;
  const root = document.documentElement.dataset.content_root || "./";
  const item = document.createElement("li");
  item.innerHTML =
    '<a href="' + root + 'xent-notebooks.zip" class="btn btn-sm dropdown-item" ' +
    'title="Every chapter with xentlib and the data" data-bs-placement="left" ' +
    'data-bs-toggle="tooltip"><span class="btn__icon-container">' +
    '<i class="fas fa-file-archive"></i></span>' +
    '<span class="btn__text-container">all notebooks (.zip)</span></a>';
  menu.appendChild(item);
});
