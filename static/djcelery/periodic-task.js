// django-celery-beat's periodic task form: the chosen crontab in words under the field's
// help. Its own template did this inline; the Content-Security-Policy runs no inline script.
"use strict";
{
  const $ = django.jQuery;
  const readable = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const help = JSON.parse(document.getElementById("crontab-help").textContent);

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(() => {
    const translation = readable[$("#id_crontab").val()];
    $(".field-crontab .help").empty().append(
      document.createTextNode(help),
      document.createElement("br"),
      document.createTextNode(`Translation: ${translation}`),
    );
  });
}
